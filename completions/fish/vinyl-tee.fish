complete -c vinyl-tee -l queue -d 'Longest backlog kept for an output whose reader is slow, as audio time (e.g. 2s, 500ms) or frames (96000f), on top of the pipe\'s own buffer. Beyond it the oldest frames are dropped' -r
complete -c vinyl-tee -l mode -d 'Permission bits, in octal, of FIFOs this tool creates for OUTPUT paths that do not exist (existing files keep theirs)' -r
complete -c vinyl-tee -l output-error -d 'What a write error other than "reader gone" does (disk full, I/O error): warn = report once, close that output, keep the others, exit 1 at the end; exit = exit 1 at once' -r -f -a "warn\t'Report the error once, close that output and keep the others going; exit 1 at the end'
exit\t'Report the error and exit 1 at once'"
complete -c vinyl-tee -l drain-timeout -d 'Longest wait, at the end of input or on SIGTERM/SIGINT/SIGHUP, for readers still present to take their queued frames (wall-clock time; a frame count is read at --rate)' -r
complete -c vinyl-tee -l batch -d 'After a read that found less than a full buffer (input arriving at its real rate), let input gather this long before reading again, so that each wake-up takes several of the capture\'s periods at once: fewer wake-ups and less CPU for this much added latency. Input that arrives faster than it is read is never held back; 0s reads as soon as anything arrives. At most 1s, and at most a quarter of what the input pipe holds (it is enlarged to /proc/sys/fs/pipe-max-size, at most 1 MiB), so the writer upstream never finds it full' -r
complete -c vinyl-tee -l rate -d 'Sample rate in frames per second (44100, 48000, 96000…)' -r
complete -c vinyl-tee -l channels -d 'Interleaved channels per frame (1..8)' -r
complete -c vinyl-tee -l format -d 'Sample format of the raw PCM: s16le, or packed 24-bit s24_3le' -r -f -a "s16le\t'Signed 16-bit little-endian, 2 bytes a sample (CD quality; the default)'
s24_3le\t'Signed 24-bit little-endian packed in 3 bytes (ALSA `S24_3LE`), for 24-bit archives'"
complete -c vinyl-tee -l stdout -d 'Also write to stdout. Once stdout\'s reader leaves it cannot be reopened: that output is closed and the others go on. Default: off'
complete -c vinyl-tee -s h -l help -d 'Print help (see more with \'--help\')'
complete -c vinyl-tee -s V -l version -d 'Print version'
