console.log("launcher build placeholder")
