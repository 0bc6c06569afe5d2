package llmtest_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/plumb-dev/plumb/contract"
	"github.com/plumb-dev/plumb/llm"
	"github.com/plumb-dev/plumb/llm/llmtest"
	"github.com/plumb-dev/plumb/retry"
)

type Contact struct {
	Email string `json:"email" jsonschema:"format=email"`
	Phone string `json:"phone"`
}

type Label struct {
	Stage   string  `json:"stage" jsonschema:"enum=new,enum=warm,enum=hot"`
	Score   float64 `json:"score"`
	Contact Contact `json:"contact"`
}

func request(t *testing.T) llm.Request {
	s, err := contract.SchemaFor[Label]()
	require.NoError(t, err)
	return llm.Request{Messages: []llm.Message{llm.User("classify this lead please")}, Output: &llm.OutputSchema{Name: "Label", Schema: s.JSON()}}
}

var good = Label{Stage: "warm", Score: 0.7, Contact: Contact{Email: "ada@example.com", Phone: "+44"}}

func respond(llm.Request) llmtest.Answer { return llmtest.JSON(good) }

func only(f llmtest.Fault, p float64) llmtest.Faults {
	var fs llmtest.Faults
	switch f {
	case llmtest.FaultMalformedJSON:
		fs.MalformedJSON = p
	case llmtest.FaultTruncated:
		fs.Truncated = p
	case llmtest.FaultMissingField:
		fs.MissingField = p
	case llmtest.FaultWrongEnum:
		fs.WrongEnum = p
	case llmtest.FaultRateLimited:
		fs.RateLimited = p
	case llmtest.FaultServerError:
		fs.ServerError = p
	case llmtest.FaultTimeout:
		fs.Timeout = p
	case llmtest.FaultRefusal:
		fs.Refusal = p
	}
	return fs
}

func TestScriptedQueueThenRespond(t *testing.T) {
	m := llmtest.New(llmtest.Config{Answers: []llmtest.Answer{llmtest.Text("first")}, Respond: func(llm.Request) llmtest.Answer { return llmtest.Text("later") }})
	r1, err := m.Generate(context.Background(), request(t))
	require.NoError(t, err)
	r2, err := m.Generate(context.Background(), request(t))
	require.NoError(t, err)
	assert.Equal(t, "first", r1.Text)
	assert.Equal(t, "later", r2.Text)
	assert.Positive(t, r1.Usage.InputTokens)
	assert.Equal(t, llm.FinishStop, r1.FinishReason)
	assert.Len(t, m.Calls(), 2)
	assert.Equal(t, llm.Info{Provider: "llmtest", Model: "scripted"}, m.Info())

	empty := llmtest.New(llmtest.Config{})
	_, err = empty.Generate(context.Background(), request(t))
	assert.ErrorIs(t, err, retry.ErrPermanent, "a script that runs out says so")
}

func TestEachFaultBreaksWhatItSays(t *testing.T) {
	ctx := context.Background()
	decode := func(text string) error { _, err := contract.Decode[Label](text); return err }
	cases := []struct {
		fault llmtest.Fault
		check func(t *testing.T, resp llm.Response, err error)
	}{
		{llmtest.FaultMalformedJSON, func(t *testing.T, resp llm.Response, err error) {
			require.NoError(t, err)
			assert.Error(t, decode(resp.Text), "malformed beyond repair: %s", resp.Text)
		}},
		{llmtest.FaultTruncated, func(t *testing.T, resp llm.Response, err error) {
			assert.ErrorIs(t, err, llm.ErrTruncated)
			assert.Equal(t, retry.ClassContract, retry.Classify(err))
			assert.Equal(t, llm.FinishLength, resp.FinishReason)
			assert.Positive(t, resp.Usage.OutputTokens, "usage is reported with the error")
		}},
		{llmtest.FaultMissingField, func(t *testing.T, resp llm.Response, err error) {
			require.NoError(t, err)
			var ve *contract.ValidationError
			require.ErrorAs(t, decode(resp.Text), &ve)
			assert.Equal(t, "required", ve.Violations[0].Keyword)
		}},
		{llmtest.FaultWrongEnum, func(t *testing.T, resp llm.Response, err error) {
			require.NoError(t, err)
			var ve *contract.ValidationError
			require.ErrorAs(t, decode(resp.Text), &ve)
			assert.Equal(t, "enum", ve.Violations[0].Keyword)
		}},
		{llmtest.FaultRateLimited, func(t *testing.T, resp llm.Response, err error) {
			assert.ErrorIs(t, err, llm.ErrRateLimited)
			assert.Equal(t, time.Second, retry.RetryAfter(err))
		}},
		{llmtest.FaultServerError, func(t *testing.T, resp llm.Response, err error) {
			assert.ErrorIs(t, err, llm.ErrServer)
			assert.Equal(t, retry.ClassTransient, retry.Classify(err))
		}},
		{llmtest.FaultTimeout, func(t *testing.T, resp llm.Response, err error) {
			assert.ErrorIs(t, err, llm.ErrTimeout)
		}},
		{llmtest.FaultRefusal, func(t *testing.T, resp llm.Response, err error) {
			assert.ErrorIs(t, err, retry.ErrRefusal)
			assert.Equal(t, retry.ClassRefusal, retry.Classify(err))
			assert.Equal(t, llm.FinishRefusal, resp.FinishReason)
			assert.NotEmpty(t, resp.Text)
		}},
	}
	for _, tc := range cases {
		t.Run(string(tc.fault), func(t *testing.T) {
			for seed := int64(0); seed < 5; seed++ {
				f := only(tc.fault, 1)
				f.Seed = seed
				m := llmtest.New(llmtest.Config{Respond: respond, Faults: f})
				resp, err := m.Generate(ctx, request(t))
				tc.check(t, resp, err)
				assert.Equal(t, 1, m.Injected()[tc.fault])
			}
		})
	}
}

func TestFaultsAreDeterministicPerSeed(t *testing.T) {
	run := func(seed int64) []string {
		m := llmtest.New(llmtest.Config{Respond: respond, Faults: llmtest.Every(0.5, seed)})
		var out []string
		for i := 0; i < 50; i++ {
			resp, err := m.Generate(context.Background(), request(t))
			s := resp.Text
			if err != nil {
				s += "|" + err.Error()
			}
			out = append(out, s)
		}
		return out
	}
	assert.Equal(t, run(7), run(7))
	assert.NotEqual(t, run(7), run(8))

	m := llmtest.New(llmtest.Config{Respond: respond, Faults: llmtest.Every(0.3, 1)})
	for i := 0; i < 2000; i++ {
		_, _ = m.Generate(context.Background(), request(t))
	}
	got := m.Injected()
	assert.InDelta(t, 1400, got[llmtest.FaultNone], 90, "about 70%% of calls are clean: %v", got)
	for _, f := range []llmtest.Fault{llmtest.FaultMalformedJSON, llmtest.FaultTruncated, llmtest.FaultMissingField, llmtest.FaultWrongEnum,
		llmtest.FaultRateLimited, llmtest.FaultServerError, llmtest.FaultTimeout, llmtest.FaultRefusal} {
		assert.InDelta(t, 75, got[f], 30, "fault %s", f)
	}
}

func TestProviderRateLimit(t *testing.T) {
	now := time.Date(2026, 11, 27, 0, 0, 0, 0, time.UTC)
	m := llmtest.New(llmtest.Config{RequestsPerMinute: 2, Respond: respond, Now: func() time.Time { return now }})
	for i := 0; i < 2; i++ {
		_, err := m.Generate(context.Background(), request(t))
		require.NoError(t, err)
		now = now.Add(10 * time.Second)
	}
	_, err := m.Generate(context.Background(), request(t))
	require.ErrorIs(t, err, llm.ErrRateLimited)
	assert.Equal(t, 40*time.Second, retry.RetryAfter(err), "until the oldest call leaves the window")
	now = now.Add(41 * time.Second)
	_, err = m.Generate(context.Background(), request(t))
	assert.NoError(t, err)
}

func TestLatencyAndCancellation(t *testing.T) {
	m := llmtest.New(llmtest.Config{Latency: time.Hour, Respond: respond})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Millisecond)
	defer cancel()
	_, err := m.Generate(ctx, request(t))
	assert.ErrorIs(t, err, llm.ErrTimeout)
}

func TestJSONAnswer(t *testing.T) {
	a := llmtest.JSON(good)
	var back Label
	require.NoError(t, json.Unmarshal([]byte(a.Text), &back))
	assert.Equal(t, good, back)
	assert.Error(t, llmtest.JSON(func() {}).Err)
}

func TestKeyedFaultsDoNotDependOnCallOrder(t *testing.T) {
	faults := llmtest.Every(0.5, 3)
	key := func(req llm.Request) string { return req.Messages[0].Content }
	run := func(order []string) map[string][]string {
		m := llmtest.New(llmtest.Config{Respond: respond, Faults: faults, Key: key})
		got := map[string][]string{}
		for _, item := range order {
			resp, err := m.Generate(context.Background(), llm.Request{Messages: []llm.Message{llm.User(item)}})
			got[item] = append(got[item], fmt.Sprint(resp.Text, err))
		}
		return got
	}
	a := run([]string{"lead-1", "lead-2", "lead-1", "lead-3", "lead-2"})
	b := run([]string{"lead-3", "lead-2", "lead-2", "lead-1", "lead-1"})
	assert.Equal(t, a, b, "each item meets the same faults in whatever order the calls come")
}
