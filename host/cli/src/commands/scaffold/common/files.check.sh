expect {{name}}.read '{"path":"hello.txt"}' 'hello from the workspace'
