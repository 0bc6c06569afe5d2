// Command leadfollowup is a lead follow-up automation built on Plumb: about
// 200 half-formatted leads are parsed, classified by a model and answered
// with a drafted reply. The model is wrong now and then, the way real
// models are; every lead still ends in exactly one recorded state.
//
//	go run ./examples/leadfollowup            # scripted model, no API key
//	OPENAI_API_KEY=... PLUMB_MODEL=gpt-4o-mini go run ./examples/leadfollowup
//
// Runs are recorded in ./plumb.db (SQLite): run it twice and the second
// run's store still holds the first run's history.
package main
