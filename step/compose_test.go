package step_test

import (
	"context"
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/plumb-dev/plumb/retry"
	"github.com/plumb-dev/plumb/step"
)

func constant(name string, l Label) *step.Step[Lead, Label] {
	return step.New(name, func(context.Context, Lead) (Label, error) { return l, nil }, step.Config{})
}

func failing(name string) *step.Step[Lead, Label] {
	return step.New(name, func(context.Context, Lead) (Label, error) {
		return Label{}, retry.Permanent(errors.New(name + " cannot answer"))
	}, step.Config{})
}

// Or returns a new step and leaves its receiver alone, so one step can
// start several chains, and fallbacks of later calls come after earlier
// ones.
func TestOrCopiesAndAppends(t *testing.T) {
	base := failing("model")
	withCache := base.Or(failing("cache"))
	chained := withCache.Or(constant("rules", Label{Stage: "new"}))
	other := base.Or(constant("default", Label{Stage: "warm"}))

	assert.Empty(t, base.Fallbacks(), "Or leaves the receiver unchanged")
	assert.Equal(t, []string{"cache"}, withCache.Fallbacks())
	assert.Equal(t, []string{"cache", "rules"}, chained.Fallbacks())
	assert.Equal(t, []string{"default"}, other.Fallbacks(), "two chains from one step do not share fallbacks")

	_, err := base.Run(context.Background(), ada)
	assert.ErrorIs(t, err, retry.ErrPermanent)

	res, err := chained.Run(context.Background(), ada)
	require.NoError(t, err)
	assert.Equal(t, "rules", res.By)
	assert.Equal(t, []string{"model", "cache", "rules"}, []string{res.Attempts[0].Step, res.Attempts[1].Step, res.Attempts[2].Step})
	assert.Equal(t, "model", chained.Name(), "the copy keeps the step's name")

	res, err = other.Run(context.Background(), ada)
	require.NoError(t, err)
	assert.Equal(t, "default", res.By)
}

// The copy keeps every policy of the step it was made from.
func TestOrKeepsThePolicies(t *testing.T) {
	s := step.New("judge", func(context.Context, Lead) (Label, error) {
		return Label{}, retry.Permanent(errors.New("no"))
	}, step.Config{OnFailure: step.Review, Review: step.ReviewRule{
		If:        func(l Label) (string, bool) { return "unsure", l.Confidence < 0.5 },
		OnClasses: []retry.Class{retry.ClassContract},
	}, SkipInputContract: true}).Or(constant("rules", Label{Stage: "new", Confidence: 0.2}))
	require.NoError(t, s.Err())
	assert.Equal(t, step.Review, s.OnFailure())
	assert.Nil(t, s.InputContract())
	reason, needed := step.NeedsReview(s, Label{Stage: "new", Confidence: 0.2})
	assert.True(t, needed)
	assert.Equal(t, "unsure", reason)
	assert.True(t, step.ReviewsFailure(s, retry.ClassContract))

	res, err := s.Run(context.Background(), Lead{})
	require.NoError(t, err, "the input contract stays off")
	assert.Equal(t, "rules", res.By)
}

// A fallback that is nil, or wrong in itself, is a definition error of the
// step it was added to, reported by Err before anything runs; the receiver
// of Or keeps its own verdict.
func TestOrDefinitionErrors(t *testing.T) {
	base := failing("model")
	for name, s := range map[string]*step.Step[Lead, Label]{
		`step "model": fallback 0 is nil`:                             base.Or(nil),
		`step "model": fallback 2 is nil`:                             base.Or(constant("a", Label{})).Or(constant("b", Label{}), nil),
		`step "model": fallback 0: step "rules": the function is nil`: base.Or(step.New[Lead, Label]("rules", nil, step.Config{})),
	} {
		require.Error(t, s.Err(), name)
		assert.ErrorContains(t, s.Err(), name)
		_, err := s.Run(context.Background(), ada)
		assert.ErrorIs(t, err, retry.ErrPermanent, name)
		assert.ErrorContains(t, err, name)
	}
	assert.NoError(t, base.Err(), "Or changes nothing about its receiver")

	var none *step.Step[Lead, Label]
	assert.Error(t, none.Or(base).Err(), "Or on a nil step is an error, not a panic")
}

// Review.If holds a func of the step's output type; New checks it once.
func TestReviewIfIsCheckedAtBuild(t *testing.T) {
	rule := func(l Label) (string, bool) { return "low confidence", l.Confidence < 0.7 }
	s := step.New("classify", func(context.Context, Lead) (Label, error) { return Label{}, nil },
		step.Config{Review: step.ReviewRule{If: rule}})
	require.NoError(t, s.Err())
	reason, needed := step.NeedsReview(s, Label{Stage: "hot", Confidence: 0.5})
	assert.True(t, needed)
	assert.Equal(t, "low confidence", reason)
	_, needed = step.NeedsReview(s, Label{Stage: "hot", Confidence: 0.9})
	assert.False(t, needed)

	type Rule func(Label) (string, bool)
	for name, wrong := range map[string]any{
		"another output type": func(l Lead) (string, bool) { return "", false },
		"no reason":           func(l Label) bool { return false },
		"a named func type":   Rule(rule),
		"not a func":          "confidence < 0.7",
	} {
		s := step.New("classify", func(context.Context, Lead) (Label, error) { return Label{}, nil },
			step.Config{Review: step.ReviewRule{If: wrong}})
		require.Error(t, s.Err(), name)
		assert.ErrorContains(t, s.Err(), `step "classify": Review.If is a `, name)
		assert.ErrorContains(t, s.Err(), "the step's output needs a func(step_test.Label) (string, bool)", name)
		_, err := s.Run(context.Background(), ada)
		assert.ErrorIs(t, err, retry.ErrPermanent, name)
	}
}
