package audit

// Move is a posted move among a record's effects (op "move"), read in
// place: the byte slices point into the record's bytes.
type Move struct {
	Tx, From, To, Unit []byte
	Amount             int64
}

// Moves reads a record's seq, time (ns), action and posted moves without
// building its content — the verifier's fast path, for readers that need
// only the moves (the accounting export). moves is reused for the result.
// ok is false when data is not a canonical record or its effects are not
// a list of well-formed maps: decode it with Decode then.
func Moves(data []byte, moves []Move) (seq uint64, time int64, action []byte, out []Move, ok bool) {
	var s scan
	if !s.read(data) || s.badShape || len(s.effects) >= MaxEffects {
		return 0, 0, nil, moves[:0], false
	}
	out = moves[:0]
	for i := range s.effects {
		e := &s.effects[i]
		if string(e.op) == effectMove {
			out = append(out, Move{Tx: e.tx, From: e.from, To: e.to, Unit: e.unit, Amount: e.amount})
		}
	}
	return s.seq, s.time, s.action, out, true
}
