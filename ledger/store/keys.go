package store

import (
	"encoding/binary"
	"encoding/hex"
	"time"

	"tally/audit"
)

// Key layout. Every key is listed in docs/STORAGE.md; keep the two in step.
// Prefixes are one ASCII letter and a slash so that a key dump reads well.
const (
	pHead     = "m/head"            // writer state: size, last leaf hash, last time
	pRecord   = "r/"                // r/<seq u64> → audit record bytes
	pHash     = "t/"                // t/<storage index u64> → 32-byte tlog hash
	pAccount  = "a/"                // a/<account id> → Account JSON
	pTx       = "x/"                // x/<tx id> → Transaction JSON
	pEntry    = "h/"                // h/<account id>/<seq u64><n u16> → Entry JSON
	pDoc      = "d/"                // d/<kind>/<id> → workflow document JSON
	pIndex    = "i/"                // i/<workflow key> → workflow index value
	pIdem     = "k/"                // k/<actor id>/<idempotency key> → idemRecord JSON
	pTimer    = "e/"                // e/<deadline ns u64>/<kind>/<id> → empty
	pPersonal = "p/"                // p/<member id> → AES-GCM(data key, personal JSON)
	pDataKey  = audit.DataKeyPrefix // q/<member id> → AES-GCM(master key, data key), kept in keys/ (keystore.go), never in Badger
	pCheckpt  = "c/"                // c/<tree size u64> → signed checkpoint note
)

func u64(b []byte, v uint64) []byte { return binary.BigEndian.AppendUint64(b, v) }

func recordKey(seq uint64) []byte { return u64([]byte(pRecord), seq) }
func hashKey(idx int64) []byte    { return u64([]byte(pHash), uint64(idx)) }
func accountKey(id string) []byte { return []byte(pAccount + id) }
func txKey(id string) []byte      { return []byte(pTx + id) }
func docKey(kind, id string) []byte {
	return []byte(pDoc + kind + "/" + id)
}
func indexKey(k string) []byte { return []byte(pIndex + k) }
func idemKey(actor, key string) []byte {
	return []byte(pIdem + actor + "/" + key)
}
func entryPrefix(account string) []byte { return []byte(pEntry + account + "/") }
func entryKey(account string, seq uint64, n uint16) []byte {
	return binary.BigEndian.AppendUint16(u64(entryPrefix(account), seq), n)
}
func timerKey(at time.Time, kind, id string) []byte {
	return append(u64([]byte(pTimer), uint64(at.UnixNano())), "/"+kind+"/"+id...)
}
func checkpointKey(size uint64) []byte { return u64([]byte(pCheckpt), size) }

// Entry cursors are the hex of the key suffix after the account prefix, so
// they are opaque to clients and exact for the store.
func entryCursor(suffix []byte) string { return hex.EncodeToString(suffix) }

func parseEntryCursor(c string) ([]byte, bool) {
	b, err := hex.DecodeString(c)
	return b, err == nil && len(b) == 10
}
