package audit

import "errors"

// The verifier runs beside its source: the source (Badger reads, file
// reads) fills batches in one goroutine while the checks run in another,
// so two cores do the work of one pass.
const (
	pipeBatchItems = 512 // records, checkpoints or accounts per batch
	pipeDepth      = 4   // batches in flight
)

// errPipeStopped tells the source the verifier has already failed.
var errPipeStopped = errors.New("audit: verifier stopped")

type pipeItem struct {
	kind    byte // FrameRecord, FrameCheckpoint, FrameAccount
	key     uint64
	data    [2]int // arena offsets
	stored  [2]int // hashes offsets; stored[0] < 0 when nil
	account Account
}

type pipeBatch struct {
	items  []pipeItem
	arena  []byte
	hashes []Hash
}

// pipe is a Visitor that copies what it is given into batches and hands
// them to next in another goroutine.
type pipe struct {
	next Visitor
	cur  *pipeBatch
	full chan *pipeBatch
	free chan *pipeBatch
	stop chan struct{} // closed when next fails
	done chan struct{} // closed when the consumer has returned
	err  error         // next's error; read after done
}

func newPipe(next Visitor) *pipe {
	p := &pipe{next: next, full: make(chan *pipeBatch, pipeDepth), free: make(chan *pipeBatch, pipeDepth+1),
		stop: make(chan struct{}), done: make(chan struct{})}
	for i := 0; i < pipeDepth+1; i++ {
		p.free <- &pipeBatch{}
	}
	p.cur = <-p.free
	go p.consume()
	return p
}

func (p *pipe) consume() {
	defer close(p.done)
	for b := range p.full {
		if p.err == nil {
			if p.err = p.replay(b); p.err != nil {
				close(p.stop)
			}
		}
		b.items, b.arena, b.hashes = b.items[:0], b.arena[:0], b.hashes[:0]
		p.free <- b
	}
}

func (p *pipe) replay(b *pipeBatch) error {
	for i := range b.items {
		it := &b.items[i]
		var err error
		switch it.kind {
		case FrameRecord:
			var stored []Hash
			if it.stored[0] >= 0 {
				stored = b.hashes[it.stored[0]:it.stored[1]]
			}
			err = p.next.Record(it.key, b.arena[it.data[0]:it.data[1]], stored)
		case FrameCheckpoint:
			err = p.next.Checkpoint(it.key, b.arena[it.data[0]:it.data[1]])
		default:
			err = p.next.Account(&it.account)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// Begin is passed straight on: nothing else is in flight yet.
func (p *pipe) Begin(h Head, keys []string) error { return p.next.Begin(h, keys) }

func (p *pipe) add(it pipeItem, data []byte) error {
	b := p.cur
	it.data = [2]int{len(b.arena), len(b.arena) + len(data)}
	b.arena = append(b.arena, data...)
	b.items = append(b.items, it)
	if len(b.items) < pipeBatchItems {
		return nil
	}
	return p.send()
}

func (p *pipe) send() error {
	select {
	case p.full <- p.cur:
	case <-p.stop:
		return errPipeStopped
	}
	select {
	case p.cur = <-p.free:
		return nil
	case <-p.stop:
		return errPipeStopped
	}
}

func (p *pipe) Record(key uint64, data []byte, stored []Hash) error {
	it := pipeItem{kind: FrameRecord, key: key, stored: [2]int{-1, -1}}
	if stored != nil {
		b := p.cur
		it.stored = [2]int{len(b.hashes), len(b.hashes) + len(stored)}
		b.hashes = append(b.hashes, stored...)
	}
	return p.add(it, data)
}

func (p *pipe) Checkpoint(size uint64, note []byte) error {
	return p.add(pipeItem{kind: FrameCheckpoint, key: size}, note)
}

func (p *pipe) Account(a *Account) error {
	return p.add(pipeItem{kind: FrameAccount, account: *a}, nil)
}

// Entries hands the source the next visitor's sink: lines go to it
// directly, not through the pipe.
func (p *pipe) Entries() EntrySink {
	if ev, ok := p.next.(EntryVisitor); ok {
		return ev.Entries()
	}
	return nil
}

// Transactions hands the source the next visitor's transaction sink.
func (p *pipe) Transactions() TxSink {
	if tv, ok := p.next.(TxVisitor); ok {
		return tv.Transactions()
	}
	return nil
}

// Documents hands the source the next visitor's document sink.
func (p *pipe) Documents() DocSink {
	if dv, ok := p.next.(DocVisitor); ok {
		return dv.Documents()
	}
	return nil
}

// finish hands over the last batch, waits for the consumer and returns
// next's error, if any, else walkErr. What the source read before it
// failed is checked too: a record missing from an export whose end frame
// then disagrees is named by its seq, not only as a bad end frame.
func (p *pipe) finish(walkErr error) error {
	if len(p.cur.items) > 0 {
		if err := p.send(); walkErr == nil {
			walkErr = err
		}
	}
	close(p.full)
	<-p.done
	if p.err != nil {
		return p.err
	}
	return walkErr
}
