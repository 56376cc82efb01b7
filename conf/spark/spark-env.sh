# glibc gives each thread that allocates an arena of its own (64 MiB of address, touched in part):
# RocksDB, Netty and the task threads make dozens.
export MALLOC_ARENA_MAX=2
