expect {{name}}.echo '{"text":"hi from echo"}' 'hi from echo'
