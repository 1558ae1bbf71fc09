package timebank

import (
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"time"

	"tally/ledger"
)

// Thresholds of the collusion signals. Signals are for a coordinator to
// look at, never a refusal: a volunteer who visits one elder every week
// is the time bank working, and only a person can tell the difference.
const (
	// SignalMinRecords: a pair is not flagged below this many records.
	SignalMinRecords = 5
	// SignalFactor: a pair is flagged at this many times the median of
	// the other pairs (at least one record).
	SignalFactor = 3
	// MaxSignals bounds each list of signals.
	MaxSignals = 500
)

// Loop is a reciprocal service loop: members who served each other in a
// cycle (a→b→a, or a→b→c→a) within the period.
type Loop struct {
	Members []string `json:"members"`
	Records int64    `json:"records"`
	Hours   int64    `json:"hours"`
}

// Pair is two members who confirm each other's records far above the
// norm: each has confirmed, in person, records of the other's service;
// Records counts those confirmations in both directions, against Norm,
// the median of the other pairs (members one of whom confirmed the
// other's records in person) in hundredths of a record.
type Pair struct {
	Members [2]string `json:"members"`
	Records int64     `json:"records"`
	Norm    int64     `json:"norm"`
}

// Signals lists what a coordinator should look at in a subtree.
// SingleHanded are confirmed records whose confirmer logged them too: a
// coordinator may do both (SPEC: the recipient or a coordinator
// confirms), but then one person issued the credits with no second check.
type Signals struct {
	Loops        []Loop     `json:"loops"`
	Pairs        []Pair     `json:"pairs"`
	Overlaps     []*Service `json:"overlaps"`
	SingleHanded []*Service `json:"single_handed"`
}

type edge struct{ from, to string }

type edgeStat struct{ records, hours int64 }

// graph holds the confirmed member-to-member services of a period.
type graph struct {
	edges    map[edge]*edgeStat
	out      map[string][]string
	confirms map[edge]*[2]int64 // unordered pair {a,b} → records b confirmed for a, a for b
	single   []string           // ids of records logged and confirmed by one person
}

// CollusionSignals reads the confirmed records of root's subtree for the
// days from to to, and lists reciprocal loops, pairs confirming each
// other far above the norm, and the overlapping records flagged at
// logging. Errors: not_found, invalid_request, limit_exceeded.
func CollusionSignals(r ledger.Reader, root string, from, to time.Time) (*Signals, error) {
	first, last, err := period(from, to)
	if err != nil {
		return nil, err
	}
	cs, err := Subtree(r, root)
	if err != nil {
		return nil, err
	}
	g := &graph{edges: map[edge]*edgeStat{}, out: map[string][]string{}, confirms: map[edge]*[2]int64{}}
	sig := &Signals{Loops: []Loop{}, Pairs: []Pair{}, Overlaps: []*Service{}, SingleHanded: []*Service{}}
	budget := MaxScan
	for _, c := range cs {
		if err := g.load(r, c.ID, first, last, &budget); err != nil {
			return nil, err
		}
		if err := overlaps(r, sig, c.ID, first, last); err != nil {
			return nil, err
		}
	}
	sig.Loops = g.loops()
	sig.Pairs = g.pairs()
	for _, id := range g.single {
		s, err := GetService(r, id)
		if err != nil {
			return nil, err
		}
		sig.SingleHanded = append(sig.SingleHanded, s)
	}
	return sig, nil
}

func (g *graph) load(r ledger.Reader, c, first, last string, budget *int) error {
	return scanDays(r, "tb/rep/"+c+"/", first, last, budget, func(_, id string, v []byte) error {
		var e repEntry
		if err := json.Unmarshal(v, &e); err != nil {
			return fmt.Errorf("timebank: report index of %s: %w", c, err)
		}
		if e.Single && len(g.single) < MaxSignals {
			g.single = append(g.single, id)
		}
		if e.Kind != RecipientMember {
			return nil
		}
		k := edge{e.Volunteer, e.Recipient}
		st := g.edges[k]
		if st == nil {
			st = &edgeStat{}
			g.edges[k] = st
			g.out[e.Volunteer] = append(g.out[e.Volunteer], e.Recipient)
		}
		st.records, st.hours = st.records+1, st.hours+e.Hours
		if e.By == e.Recipient && !e.Agent {
			// In person: a coordinator confirming for an offline
			// recipient is no collusion of the two.
			u := unordered(e.Volunteer, e.Recipient)
			c := g.confirms[u]
			if c == nil {
				c = &[2]int64{}
				g.confirms[u] = c
			}
			if e.Recipient == u.to {
				c[0]++
			} else {
				c[1]++
			}
		}
		return nil
	})
}

func unordered(a, b string) edge {
	if b < a {
		a, b = b, a
	}
	return edge{a, b}
}

// loops finds 2- and 3-cycles, each once (from its smallest member).
func (g *graph) loops() []Loop {
	out := []Loop{}
	add := func(ms ...string) {
		l := Loop{Members: ms}
		for i := range ms {
			st := g.edges[edge{ms[i], ms[(i+1)%len(ms)]}]
			l.Records, l.Hours = l.Records+st.records, l.Hours+st.hours
		}
		out = append(out, l)
	}
	for _, a := range sortedKeys(g.out) {
		for _, b := range g.out[a] {
			if b <= a {
				continue
			}
			if g.edges[edge{b, a}] != nil {
				add(a, b)
			}
			for _, c := range g.out[b] {
				if c > a && c != b && g.edges[edge{c, a}] != nil && len(out) < MaxSignals {
					add(a, b, c)
				}
			}
			if len(out) >= MaxSignals {
				return out
			}
		}
	}
	return out
}

// pairs flags pairs who confirm each other's records far above the
// median of the other pairs. The median, not the mean: a few colluding
// pairs do not raise the norm that hides them.
func (g *graph) pairs() []Pair {
	totals := make([]int64, 0, len(g.confirms))
	for _, c := range g.confirms {
		totals = append(totals, c[0]+c[1])
	}
	slices.Sort(totals)
	out := []Pair{}
	for k, c := range g.confirms {
		n := c[0] + c[1]
		if c[0] == 0 || c[1] == 0 || n < SignalMinRecords {
			continue
		}
		norm := int64(100) // one record, in hundredths
		if len(totals) > 1 {
			norm = max(norm, medianWithout(totals, n))
		}
		if n*100 >= SignalFactor*norm {
			out = append(out, Pair{Members: [2]string{k.from, k.to}, Records: n, Norm: norm})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Records > out[j].Records })
	return out[:min(len(out), MaxSignals)]
}

// overlaps lists the flagged records of c that occurred in the period
// and are not rejected, nor flagged only against records rejected since.
func overlaps(r ledger.Reader, sig *Signals, c, first, last string) error {
	return scan(r, "tb/flag/"+c+"/", "", MaxScan, func(_ string, v []byte) (bool, error) {
		s, err := GetService(r, string(v))
		if err != nil {
			return false, err
		}
		d := dayKey(s.OccurredAt)
		if s.Status == StatusRejected || d < first || d > last {
			return true, nil
		}
		live, err := liveOverlaps(r, s)
		if err != nil {
			return false, err
		}
		if len(live) > 0 {
			sig.Overlaps = append(sig.Overlaps, s)
		}
		return len(sig.Overlaps) < MaxSignals, nil
	})
}

// medianWithout returns, in hundredths, the median of sorted without one
// occurrence of v (which it holds).
func medianWithout(sorted []int64, v int64) int64 {
	i, _ := slices.BinarySearch(sorted, v)
	rest := slices.Delete(slices.Clone(sorted), i, i+1)
	m := len(rest) / 2
	if len(rest)%2 == 1 {
		return rest[m] * 100
	}
	return (rest[m-1] + rest[m]) * 50
}

func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}
