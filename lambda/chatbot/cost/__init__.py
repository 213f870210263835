"""What the chatbot costs to run: the price file (prices.yaml), the cost model, `chatbot cost`."""
