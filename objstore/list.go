package objstore

import (
	"context"
	"fmt"
	"iter"
)

// All iterates over every object whose key starts with prefix, in key
// order, following List's pages. On an error it yields the error once (with
// a zero ObjectInfo) and stops. Objects changed during the iteration may or
// may not be seen.
func All(ctx context.Context, s Store, prefix string) iter.Seq2[ObjectInfo, error] {
	return func(yield func(ObjectInfo, error) bool) {
		opts := ListOptions{}
		for {
			page, err := s.List(ctx, prefix, opts)
			if err != nil {
				yield(ObjectInfo{}, err)
				return
			}
			for _, o := range page.Objects {
				if !yield(o, nil) {
					return
				}
			}
			if !page.Truncated {
				return
			}
			if len(page.Objects) == 0 {
				yield(ObjectInfo{}, fmt.Errorf("objstore: list %q: truncated page without objects", prefix))
				return
			}
			opts.StartAfter = page.Objects[len(page.Objects)-1].Key
		}
	}
}

// ListAll returns every object whose key starts with prefix, in key order.
func ListAll(ctx context.Context, s Store, prefix string) ([]ObjectInfo, error) {
	var out []ObjectInfo
	for o, err := range All(ctx, s, prefix) {
		if err != nil {
			return nil, err
		}
		out = append(out, o)
	}
	return out, nil
}
