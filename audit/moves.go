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

// DecodedMoves are the posted moves of a decoded record's effects, read
// from its content as Decode built it (fields of another type read as
// empty): what Moves gives when it can read the record in place.
func DecodedMoves(rec *Record) []Move {
	effects, _ := rec.Content["effects"].([]any)
	var out []Move
	for _, e := range effects {
		m, _ := e.(map[string]any)
		if op, _ := m["op"].(string); op != effectMove {
			continue
		}
		tx, _ := m["tx"].(string)
		from, _ := m["from"].(string)
		to, _ := m["to"].(string)
		unit, _ := m["unit"].(string)
		amount, _ := m["amount"].(int64)
		out = append(out, Move{Tx: []byte(tx), From: []byte(from), To: []byte(to), Unit: []byte(unit), Amount: amount})
	}
	return out
}
