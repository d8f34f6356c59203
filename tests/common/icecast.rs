//! A private icecast2 server on 127.0.0.1 for tests. Not implemented yet.
