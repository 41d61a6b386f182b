package notify

// Due is due, for the external tests.
var Due = due
