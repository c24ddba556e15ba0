"""Published PREP releases: read every real layout (`read`), build an election file from one
(`catalog`). Publication and the rehearsal read the same files through `read`."""
