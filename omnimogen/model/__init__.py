"""The OmniMoGen model: unified vocabulary, transformer, generation."""
