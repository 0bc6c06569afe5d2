package store

// DefaultListLimit is the number of runs ListRuns returns by default.
const DefaultListLimit = 100

// ReplayStart says where a replay of r starts: the named step, else the
// step r failed at, else the first step without a checkpoint. It returns
// the step's index (-1 when the pipeline has no such step) and name.
// ReplayRun validates a patch against that step's input contract and
// PlanReplay applies it there, so the two always agree.
func ReplayStart(r *Run, recs []StepRecord, def *PipelineDef, from string) (int, string) {
	name := from
	if name == "" {
		name = r.Step
	}
	index := -1
	switch {
	case name == "":
		index = 0
		for _, c := range Checkpoints(recs, r.Attempt) {
			if c.Index != index {
				break
			}
			index++
		}
	case def != nil:
		index = def.Index(name)
	default:
		for _, rec := range recs {
			if rec.Step == name && rec.Index >= 0 {
				index = rec.Index
			}
		}
	}
	if index >= 0 {
		if n := stepName(def, recs, index); n != "" {
			name = n
		}
	}
	return index, name
}

func stepName(def *PipelineDef, recs []StepRecord, index int) string {
	if def != nil && index >= 0 && index < len(def.Steps) {
		return def.Steps[index].Name
	}
	for _, r := range recs {
		if r.Index == index {
			return r.Step
		}
	}
	return ""
}
