package api

// MaxJSONBody caps the body of a JSON write that is not an upload (a household with
// its residents, a trace subject, a contact search, a swab, a check-in, a route
// plan): a household of ten residents is about 3 KB, so 1 MB refuses a runaway or hostile body long before the API's
// overall MaxBodyBytes, with 413 and nothing written. Uploads have their own caps
// (MaxPingBody, maxZoneBody).
const MaxJSONBody = 1 << 20
