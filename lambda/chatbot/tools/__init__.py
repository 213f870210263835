"""The MCP tools: document search and record CRUD, each call validated against schemas/mcp_tools.yaml."""
