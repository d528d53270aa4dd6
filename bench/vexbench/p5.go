package main

import "context"

func runP5(ctx context.Context, e *env) (row, error) { return row{}, nil }
