"""The MCP tools: document search and record CRUD, validated against schemas/mcp_tools.yaml."""
