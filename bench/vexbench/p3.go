package main

import "context"

func runP3(ctx context.Context, e *env) (row, error) { return row{}, nil }
