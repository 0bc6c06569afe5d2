// Command leadfollowup is a lead follow-up automation built on Plumb: about
// 200 half-formatted leads are parsed, classified by a model and answered
// with a drafted reply. The model is wrong now and then, the way real
// models are; every lead still ends in exactly one recorded state.
//
//	go run ./examples/leadfollowup            # scripted model, no API key
//	OPENAI_API_KEY=... PLUMB_MODEL=gpt-4o-mini go run ./examples/leadfollowup
//	go run ./examples/leadfollowup -otlp http://127.0.0.1:4318   # traces by OTLP/HTTP, e.g. to Jaeger
//
// Runs are recorded in ./plumb.db (SQLite): run it twice and the second
// run's store still holds the first run's history.
//
// # Working the queue
//
// With -work the example submits no leads: its worker carries out what is
// queued in the store (dead letters replayed with plumb replay, reviews
// approved in the inbox or with plumb review approve), lists each run it
// carried out and where it ended, and exits once nothing of the pipeline
// is running or due to run within ten seconds:
//
//	plumb --db plumb.db replay RUN_ID --set /text='Ada <ada@example.com>'
//	go run ./examples/leadfollowup -work
package main
