package redis

// GetFields lets tests issue the very command Get caches.
var GetFields = getFields
