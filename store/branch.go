package store

import (
	"encoding/json"
	"strconv"
	"time"

	"github.com/plumb-dev/plumb/retry"
)

// Branches are runs of their own. A pipeline step that branches (a
// fan-out over a list, a route, parallel sub-pipelines) forks: one Fork
// records its children, each a run of a sub-pipeline with a Parent, and
// puts the parent in the Waiting status, holding no worker. Each child is
// checkpointed, retried, dead-lettered, reviewed and replayed as any run
// is. The store keeps each fork's join: every change of a child's status
// updates it in the same transaction, and when the fork's last live child
// ends, the store queues the parent again, which then joins the children's
// results. A child waiting for a person keeps its parent waiting.
//
// When a child that its parent's failed join named is replayed (alone or
// by filter) and succeeds once no sibling is live, the store replays the
// parent from the branching step, so that the join resumes with the
// child's result.

// Parent ties a branch run to the run whose step started it.
type Parent struct {
	RunID string `json:"run_id"`
	// Step and Index name the parent's branching step.
	Step  string `json:"step"`
	Index int    `json:"index"`
	// Branch is the child's position: its element's index in a fan-out,
	// its route's or parallel branch's number otherwise.
	Branch int `json:"branch"`
	// Name is the route's key or the parallel branch's name; empty for a
	// fan-out element.
	Name string `json:"name,omitempty"`
	// TraceID and SpanID name the root span of the parent's execution
	// that forked, so that a child's spans sit in its parent's trace.
	TraceID string `json:"trace_id,omitempty"`
	SpanID  string `json:"span_id,omitempty"`
}

// BranchID is the id of a branch run: its parent's id, the branching
// step's index and the branch, so that a fork made again (after a crash,
// or by a replay of the parent) finds the children it made before.
func BranchID(parent string, index, branch int) string {
	return parent + "." + strconv.Itoa(index) + "." + strconv.Itoa(branch)
}

// Spend is what a run's model calls spent, or may spend.
type Spend struct {
	Tokens int     `json:"tokens,omitempty"`
	Cost   float64 `json:"cost,omitempty"`
}

// IsZero reports whether s is zero.
func (s Spend) IsZero() bool { return s == Spend{} }

// Fork ends the current execution of a held run at a branching step (see
// Queue.Fork).
type Fork struct {
	// Record is the branching step's record (Status StepWaiting); its
	// Index and Step identify the fork.
	Record StepRecord
	// Children are the branch runs, each with Parent set to the run, the
	// record's step and index, and its branch, and with the id BranchID
	// gives.
	Children []NewRun
	// Limit bounds how many of the fork's children are queued or running
	// at once, across every worker; 0 means no bound. The others wait,
	// and are released in branch order as siblings end or stop to await
	// review.
	Limit int
}

// BranchQuery selects the branch runs of a parent.
type BranchQuery struct {
	Parent string
	// Step selects the children of one branching step; empty: of every
	// step.
	Step string
	// Outputs fills Branch.Output.
	Outputs bool
}

// Branch is a branch run as its parent's join sees it.
type Branch struct {
	RunID    string `json:"run_id"`
	Pipeline string `json:"pipeline"`
	// Index and Step name the parent's branching step; Branch and Name the
	// child's place in it.
	Index   int    `json:"index"`
	Step    string `json:"parent_step"`
	Branch  int    `json:"branch"`
	Name    string `json:"name,omitempty"`
	Status  Status `json:"status"`
	Attempt int    `json:"attempt"`
	// InputHash is the hash of the current attempt's input.
	InputHash string `json:"input_hash"`
	// Output is the child's output once it succeeded (BranchQuery.Outputs).
	Output json.RawMessage `json:"output,omitempty"`
	// FailedStep, Error and Class describe a failed child: its Run.Step,
	// Run.Error and Run.Class.
	FailedStep string      `json:"failed_step,omitempty"`
	Error      string      `json:"error,omitempty"`
	Class      retry.Class `json:"class,omitempty"`
	Spent      Spend       `json:"spent,omitzero"`
	UpdatedAt  time.Time   `json:"updated_at"`
}

// Ended reports whether the child has ended (succeeded, dead-lettered or
// cancelled): what its parent's join waits for.
func (b *Branch) Ended() bool { return b.Status.Final() }
