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
//
// # The console
//
// With -serve ADDR the example, once its batch is through, serves the
// operator's console (package console) on ADDR, with the review inbox
// inside it, while a worker carries out what is asked there: look at the
// overview and the dead letters, patch and replay a lead, stop with
// Ctrl-C. It asks for HTTP Basic auth (-user, -password; a random password
// is printed); -trace-url links each run to its trace:
//
//	go run ./examples/leadfollowup -serve :8080
//
// # Versions
//
// The pipeline is release v1 (pipeline.Policy.Version). -next builds
// release v2, whose input contract no longer takes leads from the chat
// widget (RawLeadNext): a contract change some of v1's runs break.
// -definition prints the definition the pipeline registers, as JSON,
// without opening the store, for plumb versions check; -next -work works
// the queue as v2, holding the runs it cannot take:
//
//	go run ./examples/leadfollowup -next -definition > next.json
//	plumb --db plumb.db versions check --definition next.json   # exit 6: runs v2 would hold
//	go run ./examples/leadfollowup -next -work
package main
