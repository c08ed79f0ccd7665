"""The wholesale network's side: TMF621/TMF653 API server, operations API, workers."""
