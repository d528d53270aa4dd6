package main

import "context"

func runP7(ctx context.Context, e *env) (row, error) { return row{}, nil }
