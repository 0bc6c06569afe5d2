package pgstore

import (
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
)

// A connection's plans are made again every replanEvery: the first batch
// on a connection has none to discard, later ones discard them once the
// interval has passed.
func TestReplanDue(t *testing.T) {
	w := &writer{planned: map[*pgx.Conn]time.Time{}}
	c := new(pgx.Conn)
	assert.False(t, w.replanDue(c), "a new connection has no plans")
	assert.False(t, w.replanDue(c), "its plans are fresh")
	w.planned[c] = time.Now().Add(-replanEvery)
	assert.True(t, w.replanDue(c), "its plans are old")
	assert.False(t, w.replanDue(c), "they were just made again")
}
