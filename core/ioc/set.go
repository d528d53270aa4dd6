package ioc

import (
	"hash/maphash"
	"strings"
)

// valueSet is the set of distinct values that Extract has reported for one
// type. Dense text makes nearly every indicator a new value, so an insert
// should cost one cache miss: the table holds one 8-byte slot per entry,
// with a 32-bit fingerprint of the hash and the index of the value. The
// value itself is read only when a fingerprint matches, and every such
// match compares the whole string, so a hash collision never loses a value.
//
// The set keeps its own copies of the values, packed into shared blocks
// (see stringArena), so a value does not keep alive the larger text it was
// cut from. The arrays that grow with the number of values contain no
// pointers, so the garbage collector does not scan them.
type valueSet struct {
	seed maphash.Seed
	// hash replaces maphash in tests that need colliding hashes.
	hash func(string) uint64

	// slots is a power-of-two table with linear probing. A slot is 0 when
	// empty, else the upper 32 bits of the hash, then the value's index+1.
	slots []uint64
	// entries are the values in insertion order, in chunks of
	// setChunkLen, so that adding one never copies the others.
	entries [][]setEntry
	n       int // the number of values
	arena   stringArena
	// prepared counts the calls of prepare not yet followed by addHashed.
	prepared int
}

// setEntry locates a value in the arena. The stored hash lets the table
// grow without hashing again.
type setEntry struct {
	ref  arenaRef
	hash uint64
}

const (
	// minSetSlots is the table size after the first insert.
	minSetSlots = 256
	// setChunkLen is the length of a chunk of entries, 64 KiB.
	setChunkLen = 4096
)

func newValueSet() *valueSet {
	return &valueSet{seed: maphash.MakeSeed()}
}

// add inserts s unless it is already there. It returns the set's copy of s
// and whether s was new.
func (t *valueSet) add(s string) (string, bool) {
	return t.addHashed(s, t.hashOf(s))
}

func (t *valueSet) hashOf(s string) uint64 {
	if t.hash != nil {
		return t.hash(s)
	}
	return maphash.String(t.seed, s)
}

// prepare readies the table for one more value, which addHashed is to
// insert after the current batch of prepare calls.
func (t *valueSet) prepare() {
	t.prepared++
	if 4*(t.n+t.prepared) > 3*len(t.slots) {
		t.grow()
	}
}

// slot returns the slot where the probe for hash h starts. Reading it
// ahead of addHashed brings it into the cache.
func (t *valueSet) slot(h uint64) uint64 {
	return t.slots[h&uint64(len(t.slots)-1)]
}

// addHashed is add for a string whose hash is h.
//
// NOTE: the index in a slot has 32 bits, so a set holds at most 2^32-1
// values. Far fewer distinct indicators already exhaust memory.
func (t *valueSet) addHashed(s string, h uint64) (string, bool) {
	t.prepared = max(0, t.prepared-1)
	// The load stays under 3/4, so probe runs stay short.
	if 4*(t.n+1) > 3*len(t.slots) {
		t.grow()
	}

	mask := uint64(len(t.slots) - 1)
	fingerprint := h >> 32
	for i := h & mask; ; i = (i + 1) & mask {
		slot := t.slots[i]
		if slot == 0 {
			v, ref := t.arena.copy(s)
			t.push(setEntry{ref, h})
			t.slots[i] = fingerprint<<32 | uint64(t.n)
			return v, true
		}
		if slot>>32 == fingerprint {
			if v := t.arena.at(t.entry(int(slot&(1<<32-1)) - 1).ref); v == s {
				return v, false
			}
		}
	}
}

// ownedInput returns input as a string owned by the set, given value as
// returned by add. That is value itself when the two are equal, else a copy
// of input in the set's blocks.
func (t *valueSet) ownedInput(input, value string) string {
	if input == value {
		return value
	}
	v, _ := t.arena.copy(input)
	return v
}

// grow doubles the table and inserts every value again from its stored
// hash.
func (t *valueSet) grow() {
	n := max(minSetSlots, 2*len(t.slots))
	t.slots = make([]uint64, n)
	mask := uint64(n - 1)
	k := 0
	for _, chunk := range t.entries {
		for _, e := range chunk {
			k++
			i := e.hash & mask
			for t.slots[i] != 0 {
				i = (i + 1) & mask
			}
			t.slots[i] = e.hash>>32<<32 | uint64(k)
		}
	}
}

// push appends e to the entries. The first chunk grows by append from a
// small capacity, so a set of a few values stays small.
func (t *valueSet) push(e setEntry) {
	last := len(t.entries) - 1
	if last < 0 || len(t.entries[last]) == setChunkLen {
		capacity := setChunkLen
		if last < 0 {
			capacity = 16
		}
		t.entries = append(t.entries, make([]setEntry, 0, capacity))
		last++
	}
	t.entries[last] = append(t.entries[last], e)
	t.n++
}

// entry returns the entry of value k, counted from 0.
func (t *valueSet) entry(k int) *setEntry {
	return &t.entries[k/setChunkLen][k%setChunkLen]
}

// stringArena copies strings into large shared blocks, so that many short
// strings cost one allocation per block instead of one each. A block is a
// strings.Builder that is only ever appended to, so the bytes behind a
// string that it has returned never change. A string from a block keeps
// the whole block alive.
type stringArena struct {
	// full are the blocks before the current one, and large the strings
	// too long for a block.
	full  []string
	cur   strings.Builder
	large []string
}

// arenaRef locates a string in a stringArena without a pointer. With
// arenaLarge set, the low 32 bits index stringArena.large. Otherwise the
// upper 32 bits are the block index, then 16 bits are the offset in the
// block and 16 bits the length.
type arenaRef uint64

const arenaLarge arenaRef = 1 << 63

const (
	// arenaBlockBytes is the size of one block. Offsets in an arenaRef
	// have 16 bits, so it is at most 64 KiB.
	arenaBlockBytes = 64 << 10
	// arenaMaxBytes is the longest string that goes into a block. Longer
	// ones get their own allocation, so a block wastes at most this much
	// at its end.
	arenaMaxBytes = arenaBlockBytes / 16
)

// copy returns a copy of s that shares no memory with s, and where it is.
func (a *stringArena) copy(s string) (string, arenaRef) {
	if len(s) > arenaMaxBytes {
		a.large = append(a.large, strings.Clone(s))
		return a.large[len(a.large)-1], arenaLarge | arenaRef(len(a.large)-1)
	}
	if a.cur.Cap()-a.cur.Len() < len(s) {
		// The strings already returned keep the old block alive.
		if a.cur.Cap() > 0 {
			a.full = append(a.full, a.cur.String())
		}
		a.cur = strings.Builder{}
		a.cur.Grow(arenaBlockBytes)
	}
	start := a.cur.Len()
	a.cur.WriteString(s)
	ref := arenaRef(len(a.full))<<32 | arenaRef(start)<<16 | arenaRef(len(s))
	return a.cur.String()[start:], ref
}

// at returns the string that ref locates.
func (a *stringArena) at(ref arenaRef) string {
	if ref&arenaLarge != 0 {
		return a.large[uint32(ref)]
	}
	b, start, n := int(ref>>32), int(ref>>16&0xffff), int(ref&0xffff)
	if b == len(a.full) {
		return a.cur.String()[start : start+n]
	}
	return a.full[b][start : start+n]
}

// stringBlocks makes strings from byte slices by copying them into shared
// blocks, so that many short strings cost one allocation per block. Unlike
// stringArena it keeps no reference to a full block, which stays alive only
// as long as a string cut from it.
type stringBlocks struct {
	cur strings.Builder
}

// string returns a string with the bytes of b.
func (s *stringBlocks) string(b []byte) string {
	if len(b) > arenaMaxBytes {
		return string(b)
	}
	if s.cur.Cap()-s.cur.Len() < len(b) {
		s.cur = strings.Builder{}
		s.cur.Grow(arenaBlockBytes)
	}
	start := s.cur.Len()
	s.cur.Write(b)
	return s.cur.String()[start:]
}
