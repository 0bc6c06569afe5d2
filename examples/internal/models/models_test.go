package models

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/plumb-dev/plumb/llm"
)

func TestFromPromptAndTurn(t *testing.T) {
	type item struct {
		ID string `json:"id"`
	}
	req := llm.Request{Messages: []llm.Message{
		{Role: llm.RoleSystem, Content: "Item: not this one"},
		{Role: llm.RoleUser, Content: `Item: {"id":"a-1"}`},
		{Role: llm.RoleAssistant, Content: "{}"},
		{Role: llm.RoleUser, Content: "fix it"},
	}}
	it, ok := FromPrompt[item](req, "Item: ")
	require.True(t, ok)
	assert.Equal(t, "a-1", it.ID)
	assert.Equal(t, 1, Turn(req))

	_, ok = FromPrompt[item](llm.Request{Messages: []llm.Message{{Role: llm.RoleUser, Content: "Item: {broken"}}}, "Item: ")
	assert.False(t, ok, "a prompt whose item does not decode")
	_, ok = FromPrompt[item](llm.Request{}, "Item: ")
	assert.False(t, ok, "a prompt without the item")
}

func TestWithout(t *testing.T) {
	a := Without(struct {
		A string `json:"a"`
		B int    `json:"b"`
	}{"x", 2}, "a")
	assert.JSONEq(t, `{"b":2}`, a.Text)
}

func TestSlipsAreFixedBySeedAndShared(t *testing.T) {
	s := Slips{Seed: 7, Rate: 0.2, Stubborn: 0.35, Both: 0.45}
	const n, kinds = 4000, 6
	first, again, cheap := 0, 0, 0
	for i := range n {
		id := fmt.Sprintf("item-%d", i)
		m := s.Pick(id, false, 0, kinds)
		assert.Equal(t, m, s.Pick(id, false, 0, kinds), "the same item, seed and turn decide the same mistake")
		assert.True(t, m >= 0 && m < kinds)
		if m == 0 {
			assert.Zero(t, s.Pick(id, false, 1, kinds), "an item the model got right is not got wrong on a re-ask")
			assert.Zero(t, s.Pick(id, true, 0, kinds), "nor by the cheaper model")
			continue
		}
		first++
		if s.Pick(id, false, 1, kinds) != 0 {
			again++
			if s.Pick(id, true, 0, kinds) != 0 {
				cheap++
			}
		} else {
			assert.Zero(t, s.Pick(id, true, 0, kinds), "only stubborn items trouble the cheaper model")
		}
	}
	assert.InDelta(t, 0.2, float64(first)/n, 0.03, "share of first answers with a mistake")
	assert.InDelta(t, 0.35, float64(again)/float64(first), 0.06, "share of those wrong again when re-asked")
	assert.InDelta(t, 0.45, float64(cheap)/float64(again), 0.1, "share of stubborn items the cheaper model gets wrong")
}
