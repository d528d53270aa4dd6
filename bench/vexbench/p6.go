package main

import "context"

func runP6(ctx context.Context, e *env) (row, error) { return row{}, nil }
