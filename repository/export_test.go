package repository

// The statements of the read paths, for tests of their query plans.
var (
	ListQuery = listQuery
	GetOrder  = getOrder
)
