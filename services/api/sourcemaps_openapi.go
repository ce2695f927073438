package api

// The OpenAPI schemas of the source-map upload and release routes
// (chunks.go, releases.go, release_files.go), added to the document's schemas.
func init() {
	strs := map[string]any{"type": "array", "items": str}
	anyList := map[string]any{"type": "array", "items": map[string]any{"type": "object"}}
	for name, s := range map[string]any{
		"ChunkUploadOptions": obj([]string{"url", "chunkSize", "hashAlgorithm"}, map[string]any{"url": str, "chunkSize": integer,
			"chunksPerRequest": integer, "maxFileSize": integer, "maxRequestSize": integer, "concurrency": integer,
			"hashAlgorithm": str, "compression": strs, "accept": strs}),
		"AssembleBundle": obj([]string{"checksum", "chunks", "projects"}, map[string]any{"checksum": str, "chunks": strs,
			"projects": strs, "version": str, "dist": str}),
		"AssembleState": obj([]string{"state", "missingChunks"}, map[string]any{
			"state":         map[string]any{"type": "string", "enum": []string{"not_found", "created", "assembling", "ok", "error"}},
			"missingChunks": strs, "detail": nullStr}),
		"Release": obj([]string{"version", "dateCreated"}, map[string]any{"version": str, "shortVersion": str, "ref": nullStr,
			"url": nullStr, "dateCreated": dateTime, "dateReleased": nullDate, "commitCount": integer, "deployCount": integer,
			"newGroups": integer, "projects": map[string]any{"type": "array", "items": obj(nil, map[string]any{"id": integer, "slug": str, "name": str})}}),
		"NewRelease": obj([]string{"version", "projects"}, map[string]any{"version": str, "ref": str, "url": str,
			"projects": strs, "dateReleased": dateTime, "commits": anyList}),
		"ReleaseUpdate": obj(nil, map[string]any{"ref": str, "url": str, "dateReleased": dateTime, "commits": anyList, "refs": anyList}),
		"Deploy": obj([]string{"id", "environment"}, map[string]any{"id": str, "environment": str, "name": nullStr, "url": nullStr,
			"dateStarted": nullDate, "dateFinished": dateTime}),
		"ReleaseFile": obj([]string{"id", "name", "sha1", "size"}, map[string]any{"id": str, "name": str, "dist": nullStr,
			"headers": map[string]any{"type": "object", "additionalProperties": str}, "size": integer, "sha1": str,
			"dateCreated": dateTime}),
		"NewDeploy": obj([]string{"environment"}, map[string]any{"environment": str, "name": str, "url": str,
			"dateStarted": dateTime, "dateFinished": dateTime}),
	} {
		schemas[name] = s
	}
}
