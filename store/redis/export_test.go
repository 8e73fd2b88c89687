package redis

// SessionFields lets tests issue the very command Get caches.
var SessionFields = sessionFields
