package nfs

import (
	"slices"
	"strings"
)

// mountExport is MOUNTPROC3_EXPORT: the export list.
//
//	res: exports = optional { dirpath<1024>, groups, next }
//	     groups  = optional { name<255>, next }  (the allowed client networks)
func (r *request) mountExport() error {
	exps := slices.Clone(r.s.opts.Exports.All())
	slices.SortFunc(exps, func(a, b *Export) int { return strings.Compare(a.Path, b.Path) })
	for _, exp := range exps {
		r.e.Bool(true)
		r.e.String(exp.Path)
		for _, p := range exp.AllowedClients {
			r.e.Bool(true)
			r.e.String(p.String())
		}
		r.e.Bool(false)
	}
	r.e.Bool(false)
	return nil
}
