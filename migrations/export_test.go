package migrations

// NewProvider lets the tests step through versions one at a time.
var NewProvider = newProvider
