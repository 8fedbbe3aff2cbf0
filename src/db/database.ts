export interface Database { [k: string]: any }
