package main

import "context"

func runP2(ctx context.Context, e *env) (row, error) { return row{}, nil }
