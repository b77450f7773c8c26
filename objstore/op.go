package objstore

// Op names a Store operation, for counters and fault injection.
type Op int

// The Store operations.
const (
	OpGet Op = iota
	OpGetRange
	OpHead
	OpPut
	OpPutIfAbsent
	OpDelete
	OpList
	numOps
)

// NumOps is the number of Store operations; ops are 0..NumOps-1.
const NumOps = int(numOps)

func (op Op) String() string {
	switch op {
	case OpGet:
		return "get"
	case OpGetRange:
		return "get_range"
	case OpHead:
		return "head"
	case OpPut:
		return "put"
	case OpPutIfAbsent:
		return "put_if_absent"
	case OpDelete:
		return "delete"
	case OpList:
		return "list"
	}
	return "unknown"
}
