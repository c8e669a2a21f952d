"""mem-agent's markdown memory: the folder of `user.md` and `entities/*.md`, and the confined file tools on it."""

from ttclab.memory.memagent.store import MemoryStore, links, new_memory, parse_facts

__all__ = ["MemoryStore", "links", "new_memory", "parse_facts"]
