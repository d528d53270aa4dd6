package gateway

import (
	"context"
	"log/slog"
	"slices"
)

// NewComponentHandler returns a handler that writes every "component"
// attribute added with Logger.With as one attribute, joining nested values
// with "/": logger.With("component", "vex-serve").With("component",
// "upstream") logs "component":"vex-serve/upstream". slog's JSON handler
// would write the key twice, which many JSON consumers reject or read as
// either value. component is the first value, empty for none.
// NOTE: a "component" passed in a log call itself, or added after
// WithGroup, is written as it is.
func NewComponentHandler(h slog.Handler, component string) slog.Handler {
	return newComponentHandler(h, component, nil)
}

// componentHandler is base with the joined component and the other
// attributes applied, in that order.
type componentHandler struct {
	base      slog.Handler
	component string
	attrs     []slog.Attr
	handler   slog.Handler
}

func newComponentHandler(base slog.Handler, component string, attrs []slog.Attr) *componentHandler {
	all := attrs
	if component != "" {
		all = append([]slog.Attr{slog.String("component", component)}, attrs...)
	}
	return &componentHandler{base: base, component: component, attrs: attrs, handler: base.WithAttrs(all)}
}

func (h *componentHandler) Enabled(ctx context.Context, level slog.Level) bool {
	return h.handler.Enabled(ctx, level)
}

func (h *componentHandler) Handle(ctx context.Context, r slog.Record) error {
	return h.handler.Handle(ctx, r)
}

func (h *componentHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	component := h.component
	rest := slices.Clone(h.attrs)
	for _, a := range attrs {
		if a.Key != "component" {
			rest = append(rest, a)
			continue
		}
		if component == "" {
			component = a.Value.String()
		} else {
			component += "/" + a.Value.String()
		}
	}
	return newComponentHandler(h.base, component, rest)
}

func (h *componentHandler) WithGroup(name string) slog.Handler {
	return h.handler.WithGroup(name)
}
