"""Pages: parse input, call one service or selector, render. Errors re-render the form, nothing lost."""
