package storekit

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	bits64 "math/bits"
	"sync"
)

// A payload (a run's input or output, a step's input or output) is kept
// in a BLOB (bytea) column in one of three forms, told apart by its first
// byte:
//
//   - the JSON itself, byte for byte: what every store wrote before the
//     packed forms, and what it still writes for small payloads and where
//     no dictionary is at hand. JSON starts with whitespace or one of
//     {["-0123456789tfn, never with a byte below 0x09.
//   - PayloadPacked (0x01): the JSON packed on its own (PackPayload's
//     LZ77, no entropy coding: fast, and good on the repeated keys and
//     strings of JSON).
//   - PayloadPackedDict (0x02): the JSON packed against a dictionary, the
//     input of the run attempt the payload belongs to (a step record's
//     attempt, a run's current attempt), whose CRC-32C follows the form
//     byte, so that a payload is never unpacked against another. A
//     step's output is most often its input with a field or two changed
//     or added, so it packs to a few dozen bytes: the step records stop
//     repeating the run's input.
//
// The hashes and sizes a store keeps (output_hash, input_hash,
// output_size) are always those of the JSON itself, never of its packed
// form. A reader that does not know the forms reads a packed payload as
// invalid JSON; a store reads every form (UnpackPayload).
const (
	PayloadPacked     byte = 0x01
	PayloadPackedDict byte = 0x02
)

// payloadMinPack is the smallest payload worth packing: below it the
// header and the varints eat what packing saves.
const payloadMinPack = 64

// payloadMaxDict bounds the dictionary: indexing it costs time per byte,
// and an input past it is rarely what an output repeats.
const payloadMaxDict = 16 << 10

// ErrPayloadDict is UnpackPayload's error for a payload packed against a
// dictionary when the dictionary it was given is missing (the attempt's
// input was not kept).
var ErrPayloadDict = errors.New("storekit: payload packed against its attempt's input, which is missing")

// PackPayload returns the blob a store keeps for payload p: packed
// against dict (the input of the run attempt p belongs to) when dict is
// usable, packed on its own otherwise, and p itself when packing does
// not save at least an eighth. nil stays nil. The result may alias p.
func PackPayload(p, dict []byte) []byte {
	if len(p) < payloadMinPack {
		if len(p) > 0 && p[0] < 0x09 {
			return packed(PayloadPacked, p, nil) // not JSON: never stored bare
		}
		return p
	}
	form := PayloadPackedDict
	if len(dict) < 16 || len(dict) > payloadMaxDict {
		form, dict = PayloadPacked, nil
	}
	b := packed(form, p, dict)
	if len(b) > len(p)-len(p)/8 && p[0] >= 0x09 {
		return p
	}
	return b
}

// PayloadNeedsDict reports whether blob b is packed against a
// dictionary, which UnpackPayload then needs.
func PayloadNeedsDict(b []byte) bool { return len(b) > 0 && b[0] == PayloadPackedDict }

// UnpackPayload returns the payload kept as blob b (any form); dict is
// the input of the payload's run attempt, as JSON (unpacked), needed only
// when PayloadNeedsDict(b). nil stays nil, and the JSON form is returned
// as is (aliasing b).
func UnpackPayload(b, dict []byte) (json.RawMessage, error) {
	if len(b) == 0 || b[0] >= 0x09 {
		if b == nil {
			return nil, nil
		}
		return json.RawMessage(b), nil
	}
	switch b[0] {
	case PayloadPacked:
		dict = nil
	case PayloadPackedDict:
		if dict == nil {
			return nil, ErrPayloadDict
		}
	default:
		return nil, fmt.Errorf("storekit: payload in form %#x, which this build does not read", b[0])
	}
	b = b[1:]
	if dict != nil {
		if len(b) < 4 || binary.LittleEndian.Uint32(b) != crc32.Checksum(dict, castagnoli) {
			return nil, fmt.Errorf("storekit: unpack payload: %w", errDictMismatch)
		}
		b = b[4:]
	}
	out, err := lzDecode(b, dict)
	if err != nil {
		return nil, fmt.Errorf("storekit: unpack payload: %w", err)
	}
	return out, nil
}

// The packed format, after the form byte: uvarint(length of the JSON),
// then sequences of uvarint(literal length), the literal bytes and, unless
// the JSON is complete, uvarint(match length - lzMinMatch) and
// uvarint(match offset): a copy of the bytes that far back in the
// dictionary followed by the JSON written so far.
const lzMinMatch = 4

func packed(form byte, p, dict []byte) []byte {
	dst := make([]byte, 1, 16+len(p)+len(p)/64)
	dst[0] = form
	if dict != nil {
		dst = binary.LittleEndian.AppendUint32(dst, crc32.Checksum(dict, castagnoli))
	}
	return lzEncode(dst, p, dict)
}

var lzTables = sync.Pool{New: func() any { return new([1 << 14]int32) }}

func lzHash(u uint32, bits uint) uint32 { return (u * 2654435761) >> (32 - bits) }

func lzEncode(dst, src, dict []byte) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(src)))
	// buf is the dictionary then the source: matches may reach back into
	// the dictionary, or across its end.
	var buf []byte
	if len(dict) > 0 {
		buf = make([]byte, 0, len(dict)+len(src))
		buf = append(append(buf, dict...), src...)
	} else {
		buf = src
	}
	start := len(dict)
	bits := uint(10)
	for bits < 14 && 1<<bits < len(buf) {
		bits++
	}
	tp := lzTables.Get().(*[1 << 14]int32)
	defer lzTables.Put(tp)
	table := tp[:1<<bits]
	clear(table)
	load := func(i int) uint32 { return binary.LittleEndian.Uint32(buf[i:]) }
	// Positions are kept plus one: 0 is an empty slot. Every third
	// position of the dictionary is enough to find the long matches a
	// step's output has in its input: a match found a byte or two late
	// extends back over them.
	for i := 0; i+lzMinMatch <= start; i += 3 {
		table[lzHash(load(i), bits)] = int32(i + 1)
	}
	lit := start // the first byte not yet written
	i := start
	for i+lzMinMatch <= len(buf) {
		h := lzHash(load(i), bits)
		cand := int(table[h]) - 1
		table[h] = int32(i + 1)
		if cand < 0 || load(cand) != load(i) {
			// Skip faster through bytes that do not pack.
			i += 1 + (i-lit)>>5
			continue
		}
		// Extend the match forward, eight bytes at a time, then back
		// over the pending literals.
		n := lzMinMatch
		for i+n+8 <= len(buf) {
			x := binary.LittleEndian.Uint64(buf[cand+n:]) ^ binary.LittleEndian.Uint64(buf[i+n:])
			if x != 0 {
				n += bits64.TrailingZeros64(x) >> 3
				goto extended
			}
			n += 8
		}
		for i+n < len(buf) && buf[cand+n] == buf[i+n] {
			n++
		}
	extended:
		for i > lit && cand > 0 && buf[cand-1] == buf[i-1] {
			i, cand, n = i-1, cand-1, n+1
		}
		dst = binary.AppendUvarint(dst, uint64(i-lit))
		dst = append(dst, buf[lit:i]...)
		dst = binary.AppendUvarint(dst, uint64(n-lzMinMatch))
		dst = binary.AppendUvarint(dst, uint64(i-cand))
		i += n
		lit = i
		if i-2 >= start && i-2+lzMinMatch <= len(buf) {
			table[lzHash(load(i-2), bits)] = int32(i - 1)
		}
	}
	dst = binary.AppendUvarint(dst, uint64(len(buf)-lit))
	return append(dst, buf[lit:]...)
}

var (
	errCorrupt      = errors.New("corrupt packed payload")
	errDictMismatch = errors.New("the payload was packed against another input than its attempt's")
	castagnoli      = crc32.MakeTable(crc32.Castagnoli)
)

func lzDecode(b, dict []byte) ([]byte, error) {
	size, k := binary.Uvarint(b)
	if k <= 0 || size > 1<<31 {
		return nil, errCorrupt
	}
	b = b[k:]
	// A corrupt length must not allocate without limit: past 1 MiB, out
	// grows as the bytes come.
	out := make([]byte, 0, min(size, 1<<20))
	for {
		n, k := binary.Uvarint(b)
		if k <= 0 || n > uint64(len(b)-k) || n > size-uint64(len(out)) {
			return nil, errCorrupt
		}
		out = append(out, b[k:k+int(n)]...)
		b = b[k+int(n):]
		if uint64(len(out)) == size {
			if len(b) != 0 {
				return nil, errCorrupt
			}
			return out, nil
		}
		m, k := binary.Uvarint(b)
		if k <= 0 {
			return nil, errCorrupt
		}
		b = b[k:]
		off, k := binary.Uvarint(b)
		if k <= 0 {
			return nil, errCorrupt
		}
		b = b[k:]
		m += lzMinMatch
		if m > size-uint64(len(out)) || off == 0 || off > uint64(len(dict)+len(out)) {
			return nil, errCorrupt
		}
		from := len(dict) + len(out) - int(off) // in dict followed by out
		for m > 0 {
			var chunk []byte
			if from < len(dict) {
				chunk = dict[from:min(len(dict), from+int(m))]
			} else {
				// Within out: an overlapping copy repeats the bytes, so
				// copy at most off bytes at a time.
				j := from - len(dict)
				chunk = out[j:min(len(out), j+int(m))]
			}
			out = append(out, chunk...)
			from += len(chunk)
			m -= uint64(len(chunk))
		}
	}
}

// Dicts remembers the inputs of the run attempts a store holds leases on
// (set at the claim, which reads them anyway), so that their step
// records and outputs are packed against them (PayloadPackedDict) with no
// read. It is bounded; a run it forgot is packed on its own. Safe for
// concurrent use; the zero value is ready.
type Dicts struct {
	mu    sync.Mutex
	m     map[string]dictEntry
	bytes int
}

type dictEntry struct {
	attempt int
	input   []byte
}

const (
	dictsMaxEntries = 8192
	dictsMaxBytes   = 32 << 20
)

// Put remembers input as the input of run id's attempt (unpacked JSON).
func (d *Dicts) Put(id string, attempt int, input []byte) {
	if len(input) < 16 || len(input) > payloadMaxDict {
		d.Drop(id)
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.m == nil {
		d.m = map[string]dictEntry{}
	}
	if old, ok := d.m[id]; ok {
		d.bytes -= len(old.input)
	}
	for k, e := range d.m {
		if len(d.m) < dictsMaxEntries && d.bytes+len(input) <= dictsMaxBytes {
			break
		}
		delete(d.m, k)
		d.bytes -= len(e.input)
	}
	d.m[id] = dictEntry{attempt: attempt, input: input}
	d.bytes += len(input)
}

// Get returns the input of run id's attempt, nil when it is not known.
func (d *Dicts) Get(id string, attempt int) []byte {
	d.mu.Lock()
	defer d.mu.Unlock()
	if e, ok := d.m[id]; ok && e.attempt == attempt {
		return e.input
	}
	return nil
}

// Drop forgets run id.
func (d *Dicts) Drop(id string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if e, ok := d.m[id]; ok {
		delete(d.m, id)
		d.bytes -= len(e.input)
	}
}
