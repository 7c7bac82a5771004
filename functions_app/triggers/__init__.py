"""Triggers and event sources: function URLs, schedules, topics, queues and event source mappings."""
