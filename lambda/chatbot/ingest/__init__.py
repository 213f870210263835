"""Document ingestion: read files, split them into chunks, embed and index them."""
