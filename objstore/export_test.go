package objstore

// NewLocalNoSync is NewLocal with every fsync skipped (Local.noSync): for
// the benchmarks and the contract test of that mode.
func NewLocalNoSync(dir string) (*Local, error) {
	l, err := NewLocal(dir)
	if err != nil {
		return nil, err
	}
	l.noSync = true
	return l, nil
}
