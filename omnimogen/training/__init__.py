"""Training loops for the tokenizer and the model, on one process or many."""
