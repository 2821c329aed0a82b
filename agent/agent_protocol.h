/* agent_protocol.h - constants of the agent protocol (proto/agent.proto)
 * that both ends must agree on and protobuf cannot carry: the stream credit
 * window and chunk size, the share's mount tag and guest paths. */
#ifndef AGENT_PROTOCOL_H
#define AGENT_PROTOCOL_H

/* Each direction of each stream starts with this much credit; a receiver
 * grants more as it consumes (in CREDIT frames of at least
 * AGENT_STREAM_WINDOW / 4 bytes, or what closes the gap, so that a byte
 * stream costs few credit frames). Bounds what either side buffers per
 * stream. */
#define AGENT_STREAM_WINDOW (256u * 1024u)
/* The most bytes one STREAM frame carries: a control frame (a response, a
 * ping) waits behind at most this much stream data on the channel. */
#define AGENT_STREAM_CHUNK (32u * 1024u)

/* The VM's 9p export (hypervisors: virtio-9p-pci mount_tag) and where the
 * agent mounts it; a container's files live under <share>/<container id>/. */
#define AGENT_SHARE_TAG        "warmpool"
#define AGENT_SHARE_GUEST_PATH "/run/warmpool/share"
/* The agent's bundles (config.json written by the agent). */
#define AGENT_BUNDLE_DIR "/run/warmpool/bundles"

/* Container and exec ids: [A-Za-z0-9_.-], 1..AGENT_ID_MAX characters, not
 * "." or "..". */
#define AGENT_ID_MAX 64

#endif
