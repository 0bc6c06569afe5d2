package sqlitestore

// LatestVersion is the schema version this package writes, for the
// external tests: they must not name a number, since every migration
// added moves it.
var LatestVersion = latestVersion
